/**
 * Drop keys whose value is `undefined`, so spreading a partial (an override, an unset environment
 * variable read through config) over defaults never erases a default.
 */
export const withoutUndefined = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
