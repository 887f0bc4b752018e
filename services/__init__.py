"""MallCRM services (bounded contexts): members, loyalty, campaigns, tickets."""
