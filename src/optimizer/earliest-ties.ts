import { Packing } from './heuristics.js';
import type { PlacementModel } from './types.js';

/** Options whose costs differ by less than this share count as equally cheap. */
const TIE_RELATIVE = 1e-9;

/**
 * Among equally cheap placements a job should start early: a solver may return any of them, and a job
 * deferred for no carbon gain only delays its user (a flat forecast makes every start tie). Moves each
 * placed job to the earliest option that costs no more and still fits beside the others, pass after pass,
 * since a job moved earlier may free the slot another job waited behind; starts only ever move earlier, so
 * the passes end. The plan's cost does not rise, so any lower bound proven for it stays valid.
 */
export function preferEarlierStarts(model: PlacementModel, choice: Int32Array): Int32Array {
  const packing = new Packing(model);
  choice.forEach((k, j) => {
    if (k >= 0) packing.place(j, k);
  });
  for (let moved = true; moved; ) {
    moved = false;
    model.jobs.forEach((job, j) => {
      const k = packing.choice[j]!;
      if (k < 0) return;
      // The tie is measured against the job's cost as the solver placed it, so that moves never add up to more.
      const placedCost = job.optionCost[choice[j]!]!;
      const limit = placedCost + TIE_RELATIVE * Math.max(1, Math.abs(placedCost));
      let best = k;
      packing.unplace(j);
      for (let o = 0; o < job.optionStart.length; o++) {
        if (job.optionStart[o]! < job.optionStart[best]! && job.optionCost[o]! <= limit && packing.fits(j, o)) best = o;
      }
      packing.place(j, best);
      if (best !== k) moved = true;
    });
  }
  return packing.choice;
}
