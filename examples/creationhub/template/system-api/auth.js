'use strict';
// Database access for system-api: one shared connection pool.
const { Pool } = require('pg');

const pool = new Pool({
  connectionString: process.env.POSTGRES_URL,
});

pool.on('error', (err) => {
  console.error('pg pool error:', err.message);
});

module.exports = { pool };
