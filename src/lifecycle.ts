// An optimizer's lifecycle: live; busy inside a call that writes (step, loadState, setState, setOptions, …), so
// that a schedule or getter of the caller's that calls back in is refused; broken by a torn step
// (only dispose works then: no torn state can leave); disposed.
/** @internal */
export class Lifecycle {
  #busy = false;
  #broken: string | undefined;
  #disposed = false;

  /** Throws if the optimizer was disposed or is broken. */
  live(): void {
    if (this.#disposed) throw new Error('this RMSProp optimizer was disposed');
    this.whole();
  }

  /** Throws once a step was left part-written (see `break`). */
  whole(): void {
    if (this.#broken !== undefined) {
      throw new Error(
        `this RMSProp optimizer is broken: its ${this.#broken}, so its parameters and state are torn; every use but dispose() throws. Dispose it and restore a state saved before`,
      );
    }
  }

  /**
   * Starts a call that writes (`what` names it: 'step()'): one that comes from inside another is
   * refused before it reads anything, and the outer call goes on as if it had not been made.
   * `leave` ends it (step calls the two itself, without `exclusive`'s closure: a step allocates nothing).
   */
  enter(what: string): void {
    this.live();
    if (this.#busy) {
      throw new Error(
        `${what} was refused: it came during a step, loadState, setState or setOptions of this optimizer (from a schedule or a getter); it changed nothing`,
      );
    }
    this.#busy = true;
  }

  leave(): void {
    this.#busy = false;
  }

  /** Runs `write` as `enter` allows, not busy any more once it returns or throws. */
  exclusive<T>(what: string, write: () => T): T {
    this.enter(what);
    try {
      return write();
    } finally {
      this.leave();
    }
  }

  /** A step failed part way (`what` happened): every use but dispose() throws from now on. */
  break(what: string): void {
    this.#broken = what;
  }

  /** Marks it disposed; false if it was already. Refused during a call that writes. */
  dispose(): boolean {
    if (this.#busy)
      throw new Error(
        'dispose() was refused: it came during a step, loadState, setState or setOptions of this optimizer (from a schedule or a getter); it was not disposed',
      );
    if (this.#disposed) return false;
    this.#disposed = true;
    this.#broken = undefined;
    return true;
  }
}
