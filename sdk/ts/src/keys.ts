// Cache keys in TanStack Query's array form: the only place that spells them (docs/design.md §6).
export type DocKey = readonly ['doc', string, string];
export type ListKey = readonly ['list', string, string, { readonly page: number }];
export type ListPrefix = readonly ['list', string, string];

export const keys = {
  /** ['doc', type, id] */
  doc: (type: string, id: string): DocKey => ['doc', type, id] as const,
  /** ['list', type, factoryId, { page }]; pages start at 1. */
  list: (type: string, factoryId: string, page = 1): ListKey => {
    if (!Number.isInteger(page) || page < 1) throw new RangeError(`list pages start at 1, got ${page}`);
    return ['list', type, factoryId, { page }] as const;
  },
  /** The list head: page 1, what a create/delete/summary refetches. */
  listHeads: (type: string, factoryId: string): ListKey => ['list', type, factoryId, { page: 1 }] as const,
  /** ['list', type, factoryId]: the prefix of every page of one list (for invalidation and infinite queries). */
  lists: (type: string, factoryId: string): ListPrefix => ['list', type, factoryId] as const,
};

/** The canonical text of a key (minified, as JSON.stringify writes it). */
export const keyJson = (key: readonly unknown[]): string => JSON.stringify(key);
