// Validate FHIR R4 JSON files against the official R4 JSON schema (ajv), independently of
// almen's Python models. Prints one JSON line per file: {"file", "resourceType", "errors"}.
// Exit code 0 when every file is valid, 1 otherwise, 2 on unreadable input.
//   node tools/fhir-validator/validate.js FILE.json [FILE.json ...]
"use strict";
const fs = require("fs");
const JSONSchemaValidator = require("@asymmetrik/fhir-json-schema-validator");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.js FILE.json [FILE.json ...]");
  process.exit(2);
}
const validator = new JSONSchemaValidator();
let bad = 0;
for (const file of files) {
  let resource;
  try {
    resource = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    console.error(`${file}: not readable JSON: ${err.message}`);
    process.exit(2);
  }
  const simple = (errs, prefix) =>
    errs.map((e) => ({
      path: prefix + (e.dataPath || e.instancePath || ""),
      message: e.message,
      params: e.params,
    }));
  let errors = simple(validator.validate(resource), "");
  // an invalid Bundle: the schema's errors list every resource type an entry is not;
  // each entry's resource is validated alone to say what is wrong with it
  if (errors.length && resource.resourceType === "Bundle" && Array.isArray(resource.entry)) {
    const inner = [];
    resource.entry.forEach((entry, i) => {
      if (entry && entry.resource) {
        inner.push(...simple(validator.validate(entry.resource), `.entry[${i}].resource`));
      }
    });
    if (inner.length) errors = inner;
  }
  if (errors.length) bad += 1;
  console.log(JSON.stringify({ file, resourceType: resource.resourceType, errors }));
}
process.exit(bad ? 1 : 0);
