// Factory scope: which factories' events this client may act on (docs/design.md §4, §6).
import { compareBytes } from './errors.js';

export class FactoryScope {
  private readonly ids_: string[];
  private constructor(
    private readonly unscoped_: boolean,
    ids: readonly string[],
  ) {
    const sorted = [...ids].sort(compareBytes);
    this.ids_ = sorted.filter((id, i) => i === 0 || sorted[i - 1] !== id);
  }
  /** Sees every factory (service_role). */
  static unscoped(): FactoryScope {
    return new FactoryScope(true, []);
  }
  /** Sees exactly these ids (exact, case-sensitive); [] sees none. */
  static of(factoryIds: readonly string[]): FactoryScope {
    return new FactoryScope(false, factoryIds);
  }
  isUnscoped(): boolean {
    return this.unscoped_;
  }
  contains(factoryId: string): boolean {
    return this.unscoped_ || this.ids_.includes(factoryId);
  }
  /** Sorted (byte order), duplicates removed. */
  factoryIds(): readonly string[] {
    return this.ids_;
  }
}
