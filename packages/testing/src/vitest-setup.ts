import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dir.ts';

// Runs in every test file (vitest.config.ts setupFiles): what tempDir made goes once the file is done.
afterAll(removeTempDirs);
