// Types of scripts/gen-asyncapi.mjs for the TypeScript that imports it (the drift test).

export declare const SCHEMA_DIR: string;
export declare const OUTPUT_FILE: string;
/** The AsyncAPI document as a plain object. */
export declare function buildAsyncApi(schemaDir?: string): Promise<Record<string, unknown>>;
/** The text of docs/asyncapi.yaml for the schemas in `schemaDir`. */
export declare function generateAsyncApi(schemaDir?: string): Promise<string>;
