/** Setup of the `postgres-state` vitest project: the executor suite against the PostgreSQL state backend. */
import { afterEach } from 'vitest';
import { checkPostgresWasUsed } from './state-backend.js';

afterEach(() => checkPostgresWasUsed());
