import { parentPort } from 'node:worker_threads';
import { optimize, type OptimizeInput, type OptimizeOptions } from '../optimizer/index.js';

/** Worker-thread entry: solves one request at a time so that the hub's event loop keeps serving. */
export interface SolveRequest {
  id: number;
  input: OptimizeInput;
  options: Partial<OptimizeOptions>;
}

export type SolveReply = { id: number; output: Awaited<ReturnType<typeof optimize>> } | { id: number; error: { name: string; message: string } };

parentPort?.on('message', (request: SolveRequest) => {
  optimize(request.input, request.options).then(
    (output) => parentPort?.postMessage({ id: request.id, output } satisfies SolveReply),
    (error: unknown) => {
      const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
      parentPort?.postMessage({ id: request.id, error: { name, message } } satisfies SolveReply);
    },
  );
});
