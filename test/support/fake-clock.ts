import { ManualClock } from '../../src/domain/clock.js';

/** A clock that moves only when told to, starting Monday 2026-01-05 00:00 UTC unless a test says otherwise. */
export class FakeClock extends ManualClock {
  constructor(start = Date.UTC(2026, 0, 5, 0, 0, 0)) {
    super(start);
  }
}
