import { Inject } from '@nestjs/common';
import { TIDESYNC_ENGINE } from './tokens.js';

/**
 * `@InjectSyncEngine()` — inject the engine by its string token. Equivalent to typing the parameter
 * as `SyncEngine`; useful where the parameter's type is core's `SyncEngine` interface (which emits
 * no runtime type) or where metadata emission is off.
 */
export const InjectSyncEngine = (): PropertyDecorator & ParameterDecorator => Inject(TIDESYNC_ENGINE);
