// A retailer's own Liquid snippets (GET/PUT/DELETE /tenants/{t}/snippets/{name}): the name the
// API accepts, the source an editor starts from, and the line and column of a source the API
// refused.
import { ApiError } from "../api/client";
import type { FieldError } from "../api/types";

/** The API's limits (shared/src/templates: `check_snippet_name`, `MAX_RETAILER_SNIPPET_BYTES`). */
export const MAX_SNIPPET_NAME = 64;
export const MAX_SNIPPET_BYTES = 32 * 1024;
export const MAX_RETAILER_SNIPPETS = 100;

/** Why a name would be refused (`null` when the API takes it): 1 to 64 of a-z, 0-9, _ and -. */
export function snippetNameProblem(name: string): string | null {
  if (name.length === 0) return "Give the snippet a name.";
  if (name.length > MAX_SNIPPET_NAME) return `At most ${MAX_SNIPPET_NAME} characters.`;
  if (!/^[a-z0-9_-]+$/.test(name)) return "Only lower-case letters a-z, digits, _ and -.";
  return null;
}

/** Why a source would be refused before it is compiled (`null` when it is within the size limit). */
export function snippetSourceProblem(source: string): string | null {
  const bytes = new TextEncoder().encode(source).length;
  return bytes > MAX_SNIPPET_BYTES ? `The source is ${bytes} bytes; at most ${MAX_SNIPPET_BYTES} (32 KiB).` : null;
}

/**
 * What the editor starts from: the retailer's saved source, else the library's of that name (a
 * replacement starts as a copy), else nothing. `undefined` while either is still loading.
 */
export function startingSource(
  saved: { source: string } | null | undefined,
  library: { source: string } | null | undefined,
): string | undefined {
  if (saved === undefined || library === undefined) return undefined;
  return saved?.source ?? library?.source ?? "";
}

/** A place in the source the API found at fault. */
export interface SourceError {
  line?: number;
  column?: number;
  reason: string;
}

/** The `source` errors of a refused save (a 422 from the compiler), with their line and column. */
export function sourceErrors(error: unknown): SourceError[] {
  if (!(error instanceof ApiError)) return [];
  return (error.problem.errors ?? [])
    .filter((field: FieldError) => field.field === "source")
    .map((field) => ({
      line: field.line ?? undefined,
      column: field.column ?? undefined,
      reason: field.reason,
    }));
}

/**
 * A compiler message split into what is wrong and the excerpt that shows where: the Liquid
 * parser's messages are multi-line (` --> 2:13`, the source line with a caret under the place,
 * then ` = expected Identifier`); others are one line, all summary.
 */
export function splitCompilerMessage(reason: string): { summary: string; excerpt?: string } {
  const lines = reason.split("\n");
  const arrow = lines.findIndex((line) => line.trim().startsWith("-->"));
  const notes = lines.filter((line) => /^\s*= /.test(line));
  if (arrow < 0 || notes.length === 0) return { summary: reason.trim() };
  const prefix = lines.slice(0, arrow).join(" ").trim();
  const summary = [prefix, ...notes.map((line) => line.replace(/^\s*= /, "").trim())].filter(Boolean).join(": ");
  const body = lines.slice(arrow + 1).filter((line) => !/^\s*= /.test(line));
  while (body.length > 0 && /^\s*\|?\s*$/.test(body[0])) body.shift();
  while (body.length > 0 && /^\s*\|?\s*$/.test(body[body.length - 1])) body.pop();
  return { summary, excerpt: body.length > 0 ? body.join("\n") : undefined };
}

/** "Line 2, column 7: …", as the page shows it beside the editor. */
export function describeSourceError(error: SourceError): string {
  const where =
    error.line != null ? `Line ${error.line}${error.column != null ? `, column ${error.column}` : ""}: ` : "";
  return `${where}${splitCompilerMessage(error.reason).summary}`;
}

/**
 * The offset in `source` of a 1-based line and column (clamped into the source), where the
 * editor's cursor goes to show the error.
 */
export function offsetOf(source: string, line: number, column = 1): number {
  const lines = source.split("\n");
  const index = Math.min(Math.max(line, 1), lines.length) - 1;
  let offset = 0;
  for (let i = 0; i < index; i++) offset += lines[i].length + 1;
  return offset + Math.min(Math.max(column - 1, 0), lines[index].length);
}
