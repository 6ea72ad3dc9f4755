// An entity as replies show it: the stored value (which never holds its revision) with the
// revision it was read or written at (docs/CONTRACT.md §3).

export type Reply<S> = S & { revision: number };

export function reply<S extends object>(stored: S, revision: number): Reply<S> {
  return { ...stored, revision };
}
