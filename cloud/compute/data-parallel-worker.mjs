// Worker-thread entry: lets a plain Node worker run the TypeScript worker body without a build
// step (tsx's loader is registered for this thread only).
import { register } from 'tsx/esm/api';

register();
await import('./data-parallel-worker.ts');
