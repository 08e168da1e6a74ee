/** Injection tokens for what the service builds before Nest starts (config, database, source). */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const SERVICE_RUNTIME = Symbol('SERVICE_RUNTIME');
