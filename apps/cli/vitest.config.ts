import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Its teardown deletes the keychain entries of the temporary vault homes the suites made.
    globalSetup: ['../../packages/core/src/testing/keychain.ts'],
    // Tests spawn the real CLI; the embedded vault takes about a second to open per process, and
    // creating a new one takes several, much longer when the suites share a loaded CI machine.
    // These bound hangs; no test asserts a time.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
})
