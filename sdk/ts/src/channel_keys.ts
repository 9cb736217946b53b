// Channel keys, the unit of subscription: factory:<id>, doc:<type>:<id>, list:<type>:<factoryId>.
// A strict grammar (mirrors include/rtcache/core/channel_key.hpp): anything else is refused with a reason.
import { DocTypeRegistry, MAX_DOC_TYPE_LENGTH, MAX_ID_LENGTH, validateDocTypeName, validateId } from './doc_types.js';
import { fail, ok, printable, utf8Length, type Result, type RtError } from './errors.js';

export type ChannelKind = 'factory' | 'doc' | 'list';

/** Fields a kind does not use are empty strings: factory -> factoryId; doc -> type, id; list -> type, factoryId. */
export interface ChannelKey {
  kind: ChannelKind;
  type: string;
  id: string;
  factoryId: string;
}

export const MAX_CHANNEL_KEY_LENGTH = 5 + MAX_DOC_TYPE_LENGTH + 1 + MAX_ID_LENGTH;

export const channelKey = {
  factory: (factoryId: string): ChannelKey => ({ kind: 'factory', type: '', id: '', factoryId }),
  doc: (type: string, id: string): ChannelKey => ({ kind: 'doc', type, id, factoryId: '' }),
  list: (type: string, factoryId: string): ChannelKey => ({ kind: 'list', type, id: '', factoryId }),
};

export const channels = {
  factory: (factoryId: string) => `factory:${factoryId}`,
  doc: (type: string, id: string) => `doc:${type}:${id}`,
  list: (type: string, factoryId: string) => `list:${type}:${factoryId}`,
};

/** The canonical text form; parseChannelKey(formatChannelKey(k)) equals k for every valid k. */
export function formatChannelKey(k: ChannelKey): string {
  switch (k.kind) {
    case 'factory':
      return channels.factory(k.factoryId);
    case 'doc':
      return channels.doc(k.type, k.id);
    case 'list':
      return channels.list(k.type, k.factoryId);
  }
}

const withContext = (e: RtError, text: string): Result<never> =>
  fail(e.code, `channel key '${printable(text)}': ${e.message}`);

export function parseChannelKey(text: string, types: DocTypeRegistry = DocTypeRegistry.defaults()): Result<ChannelKey> {
  if (text.length === 0) return fail('empty', 'channel key is empty');
  const bytes = utf8Length(text);
  if (bytes > MAX_CHANNEL_KEY_LENGTH) {
    return fail('too_long', `channel key is ${bytes} bytes; the limit is ${MAX_CHANNEL_KEY_LENGTH}`);
  }
  // At most 4 parts: one more than any kind needs, so extras are detected.
  const parts: string[] = [];
  let start = 0;
  while (parts.length < 3) {
    const pos = text.indexOf(':', start);
    if (pos < 0) break;
    parts.push(text.slice(start, pos));
    start = pos + 1;
  }
  parts.push(text.slice(start));
  const prefix = parts[0]!;
  let kind: ChannelKind;
  let want: number;
  if (prefix === 'factory') [kind, want] = ['factory', 2];
  else if (prefix === 'doc') [kind, want] = ['doc', 3];
  else if (prefix === 'list') [kind, want] = ['list', 3];
  else return withContext({ code: 'bad_prefix', message: 'must start with factory:, doc: or list:' }, text);
  if (parts.length !== want) {
    return withContext(
      {
        code: 'bad_segment_count',
        message: `${kind} keys have ${want} ':'-separated segments, not ${parts.length > want ? 'more' : 'fewer'}`,
      },
      text,
    );
  }
  for (let i = 1; i < parts.length; i++) {
    if (parts[i]!.length === 0) return withContext({ code: 'empty_segment', message: `segment ${i + 1} is empty` }, text);
  }
  if (kind === 'factory') {
    const v = validateId(parts[1]!, 'factory id');
    return v.ok ? ok(channelKey.factory(parts[1]!)) : withContext(v.error, text);
  }
  const tv = validateDocTypeName(parts[1]!);
  if (!tv.ok) return withContext(tv.error, text);
  if (!types.contains(parts[1]!)) {
    return withContext({ code: 'unknown_doc_type', message: `doc type '${parts[1]}' is not configured` }, text);
  }
  const iv = validateId(parts[2]!, kind === 'doc' ? 'doc id' : 'factory id');
  if (!iv.ok) return withContext(iv.error, text);
  return ok(kind === 'doc' ? channelKey.doc(parts[1]!, parts[2]!) : channelKey.list(parts[1]!, parts[2]!));
}
