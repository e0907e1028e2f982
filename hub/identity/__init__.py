"""Who a message is about: BSN checks and the keyed pseudonyms that replace the BSN."""
