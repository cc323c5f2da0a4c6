import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Its teardown deletes the keychain entries of the temporary vault homes the suites made.
    globalSetup: ['./src/testing/keychain.ts'],
    // Each suite makes its own databases, so files can run side by side. The limits bound hangs
    // (no test asserts a time); a new PGlite data directory takes ≈ 5 s alone and many times
    // that when every package's suite shares a loaded 2-core CI machine.
    testTimeout: 90_000,
    hookTimeout: 180_000,
  },
})
