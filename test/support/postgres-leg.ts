/** Setup of the `postgres-state` vitest project: the executor suite against the PostgreSQL state backend. */
import { afterEach, inject } from 'vitest';
import { checkPostgresWasUsed } from './state-backend.js';

// The leg's --state URLs carry no password (state-backend.ts stateUrlFor): the CLI and the
// tests' own store connections take it from here, as an operator's PGPASSWORD.
process.env.PGPASSWORD = inject('pg').password;

afterEach(() => checkPostgresWasUsed());
