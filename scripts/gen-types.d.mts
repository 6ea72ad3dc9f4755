// Types of scripts/gen-types.mjs for the TypeScript that imports it (the drift test).

export declare const SCHEMA_DIR: string;
export declare const OUTPUT_FILE: string;
export declare const CLIENT_OUTPUT_FILE: string;
/** The text of src/generated/schema-types.ts for the schemas in `schemaDir`. */
export declare function generateTypes(schemaDir?: string): Promise<string>;
