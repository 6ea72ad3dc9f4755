// Types of scripts/endpoints.mjs for the TypeScript that imports it.

export interface EntityRef {
  file: string;
  title: string;
}
export interface EndpointReply {
  kind: "entity" | "page" | "deleted";
  entity: string;
}
export interface EndpointInfo {
  subject: string;
  resource: string;
  action: string;
  requestFile: string;
  requestTitle: string;
  description?: string;
  reply: EndpointReply;
}
export declare function requestSchemaFiles(dir: string): Promise<string[]>;
export declare function readEntities(dir: string): Promise<Record<string, EntityRef>>;
export declare function readEndpoints(dir: string): Promise<EndpointInfo[]>;
