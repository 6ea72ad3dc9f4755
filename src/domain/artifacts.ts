// What recordings, transcripts and summaries compute (docs/CONTRACT.md §5 "recording",
// "summary"): their files' totals. Pure.
import type { ArtifactFile } from "../generated/schema-types.js";

/** total_size (the sum of file_size, absent counting 0) and the number of files. */
export function artifactTotals(files: readonly ArtifactFile[]): { size: number; count: number } {
  return {
    size: files.reduce((sum, file) => sum + (file.file_size ?? 0), 0),
    count: files.length,
  };
}
