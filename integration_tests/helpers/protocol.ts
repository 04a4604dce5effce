/**
 * Test oracle: validates every emitted line against the vendored Airbyte protocol schema
 * (integration_tests/vendor/airbyte_protocol.yaml, MIT) and records against their stream's JSON Schema.
 */
import { readFileSync } from 'node:fs';

import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

import { loadStreamSchema } from '../../source-fal/schemas.js';

// ajv-formats is CommonJS; under NodeNext the plugin function is its `default` property.
const addFormats = ajvFormats.default;

const PROTOCOL_ID = 'airbyte_protocol';

function newAjv(): Ajv {
  // The protocol YAML uses the non-standard `existingJavaType` keyword; stream schemas use `airbyte_type`/`airbyte_secret`.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

let protocolAjv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function protocolValidator(definition: string): ValidateFunction {
  const cached = validators.get(definition);
  if (cached) return cached;
  if (!protocolAjv) {
    protocolAjv = newAjv();
    const text = readFileSync(new URL('../vendor/airbyte_protocol.yaml', import.meta.url), 'utf8');
    const schema = parseYaml(text) as Record<string, unknown>;
    delete schema.$id;
    protocolAjv.addSchema(schema, PROTOCOL_ID);
  }
  const validate = protocolAjv.getSchema(`${PROTOCOL_ID}#/definitions/${definition}`);
  if (!validate) throw new Error(`no protocol definition ${definition}`);
  validators.set(definition, validate);
  return validate;
}

/** Throws with ajv's errors when `message` is not a valid AirbyteMessage. */
export function assertAirbyteMessage(message: unknown): void {
  const validate = protocolValidator('AirbyteMessage');
  if (!validate(message)) {
    throw new Error(
      `not a valid AirbyteMessage: ${JSON.stringify(validate.errors)}\n${JSON.stringify(message).slice(0, 500)}`,
    );
  }
}

const recordAjv = newAjv();
const recordValidators = new Map<string, ValidateFunction>();

function streamSchemaValidator(stream: string): ValidateFunction {
  let validate = recordValidators.get(stream);
  if (!validate) {
    validate = recordAjv.compile(loadStreamSchema(stream));
    recordValidators.set(stream, validate);
  }
  return validate;
}

export function assertRecordMatchesSchema(stream: string, data: unknown): void {
  const validate = streamSchemaValidator(stream);
  if (!validate(data))
    throw new Error(
      `record of ${stream} does not match schemas/${stream}.json: ${JSON.stringify(validate.errors)}\n${JSON.stringify(data)}`,
    );
}
