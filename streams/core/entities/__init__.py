"""Entity kinds: one module per kind (contact, agent, ticket), registered in ``kinds``."""
