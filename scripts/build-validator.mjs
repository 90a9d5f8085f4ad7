// Filled by the foundation work: generates the precompiled (standalone) ajv validator.
