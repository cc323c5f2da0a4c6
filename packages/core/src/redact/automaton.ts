/**
 * Aho–Corasick over UTF-16 code units: every pattern of a set found in one pass over the text,
 * fed one unit at a time, so a match split across chunks is found the same as in one piece.
 * @module
 */

/** A compiled pattern set; states are numbers, 0 is the start. */
export interface Automaton {
  /** The state after reading a unit in the start state, by unit (0: still the start). */
  readonly root: Int32Array
  /** The state after reading `code` in `state`. */
  step(state: number, code: number): number
  /**
   * How many units the text read so far ends with that could still grow into a (longer)
   * pattern: the deepest node on the failure chain that has children.
   */
  depth(state: number): number
  /** Calls `found` with the index of every pattern that ends at `state`. */
  matches(state: number, found: (pattern: number) => void): void
  /** Whether any pattern ends at `state` (a cheap test before {@link Automaton.matches}). */
  ends(state: number): boolean
}

/** Builds the automaton of `patterns` (distinct, non-empty). */
export function buildAutomaton(patterns: readonly string[]): Automaton {
  // A trie in parallel arrays: children as linked lists (most nodes have one), except the
  // root's, which every unit of the text looks up, in a dense table.
  const code: number[] = [0]
  const firstChild: number[] = [-1]
  const nextSibling: number[] = [-1]
  const fail: number[] = [0]
  const depths: number[] = [0]
  const output: number[] = [-1]
  const dictionary: number[] = [-1]
  const rootNext = new Int32Array(0x10000)
  const rootChildren: number[] = []

  const child = (node: number, unit: number): number => {
    if (node === 0) return rootNext[unit] ?? 0
    for (let k = firstChild[node] ?? -1; k !== -1; k = nextSibling[k] ?? -1) {
      if (code[k] === unit) return k
    }
    return 0
  }

  patterns.forEach((pattern, index) => {
    let node = 0
    for (let i = 0; i < pattern.length; i++) {
      const unit = pattern.charCodeAt(i)
      let next = child(node, unit)
      if (next === 0) {
        next = code.length
        code.push(unit)
        firstChild.push(-1)
        nextSibling.push(node === 0 ? -1 : (firstChild[node] ?? -1))
        fail.push(0)
        depths.push((depths[node] ?? 0) + 1)
        output.push(-1)
        dictionary.push(-1)
        if (node === 0) {
          rootNext[unit] = next
          rootChildren.push(next)
        } else firstChild[node] = next
      }
      node = next
    }
    if ((output[node] ?? -1) === -1) output[node] = index
  })

  // Breadth first, so every node's failure target (a shorter node) is done before it.
  const queue = [...rootChildren]
  for (let head = 0; head < queue.length; head++) {
    const parent = queue[head] ?? 0
    for (let node = firstChild[parent] ?? -1; node !== -1; node = nextSibling[node] ?? -1) {
      const unit = code[node] ?? 0
      let target = fail[parent] ?? 0
      while (target !== 0 && child(target, unit) === 0) target = fail[target] ?? 0
      const landed = child(target, unit)
      fail[node] = landed
      dictionary[node] = (output[landed] ?? -1) !== -1 ? landed : (dictionary[landed] ?? -1)
      queue.push(node)
    }
  }

  // Failure targets are shallower, so in breadth-first order they are done first.
  const growable = new Int32Array(code.length)
  for (const node of queue) {
    growable[node] =
      (firstChild[node] ?? -1) !== -1 ? (depths[node] ?? 0) : (growable[fail[node] ?? 0] ?? 0)
  }

  return {
    root: rootNext,
    step(state, unit) {
      for (;;) {
        const next = child(state, unit)
        if (next !== 0 || state === 0) return next
        state = fail[state] ?? 0
      }
    },
    depth: (state) => growable[state] ?? 0,
    ends: (state) => (output[state] ?? -1) !== -1 || (dictionary[state] ?? -1) !== -1,
    matches(state, found) {
      let node = (output[state] ?? -1) !== -1 ? state : (dictionary[state] ?? -1)
      while (node > 0) {
        found(output[node] ?? 0)
        node = dictionary[node] ?? -1
      }
    },
  }
}
