// The registry of document types: the `type` in doc:<type>:<id>, list:<type>:<f> and in every event.
import { fail, ok, printable, utf8Length, type Result } from './errors.js';

export const DEFAULT_DOC_TYPES = ['wo', 'pl', 'dn', 'grn', 'lot', 'pu', 'invoice', 'price_list'] as const;
export const MAX_DOC_TYPE_LENGTH = 32;

export function validateDocTypeName(name: string): Result<void> {
  if (name.length === 0) return fail('empty', 'doc type is empty');
  if (utf8Length(name) > MAX_DOC_TYPE_LENGTH) {
    return fail('too_long', `doc type '${printable(name)}' is ${utf8Length(name)} bytes; the limit is ${MAX_DOC_TYPE_LENGTH}`);
  }
  if (!(name[0]! >= 'a' && name[0]! <= 'z')) return fail('bad_char', `doc type '${printable(name)}' must start with a lowercase letter`);
  for (let i = 1; i < name.length; i++) {
    const c = name[i]!;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '_')) {
      return fail('bad_char', `doc type '${printable(name)}' has a character outside [a-z0-9_] at position ${i}`);
    }
  }
  return ok(undefined);
}

/** Immutable after construction. */
export class DocTypeRegistry {
  private constructor(private readonly names_: ReadonlySet<string>) {}

  static defaults(): DocTypeRegistry {
    return new DocTypeRegistry(new Set(DEFAULT_DOC_TYPES));
  }

  /** Each name must match [a-z][a-z0-9_]{0,31}; duplicates and an empty list are refused. */
  static from(names: readonly string[]): Result<DocTypeRegistry> {
    if (names.length === 0) return fail('empty', 'the doc type list is empty');
    const set = new Set<string>();
    for (const n of names) {
      const v = validateDocTypeName(n);
      if (!v.ok) return v;
      if (set.has(n)) return fail('duplicate_key', `doc type '${n}' is listed twice`);
      set.add(n);
    }
    return ok(new DocTypeRegistry(set));
  }

  contains(type: string): boolean {
    return this.names_.has(type);
  }

  names(): string[] {
    return [...this.names_].sort();
  }
}

export const MAX_ID_LENGTH = 64;

const isIdChar = (c: string) =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_' || c === '-' || c === '.';

/** The id grammar: 1..64 bytes of [A-Za-z0-9_.-]. */
export function validateId(id: string, what: string): Result<void> {
  if (id.length === 0) return fail('empty', `${what} is empty`);
  const bytes = utf8Length(id); // the bound is in bytes, as the server counts it
  if (bytes > MAX_ID_LENGTH) return fail('too_long', `${what} is ${bytes} bytes; the limit is ${MAX_ID_LENGTH}`);
  for (let i = 0; i < id.length; i++) {
    if (!isIdChar(id[i]!)) {
      return fail('bad_char', `${what} has a character outside [A-Za-z0-9_.-] at position ${i}: '${printable(id[i]!)}'`);
    }
  }
  return ok(undefined);
}
