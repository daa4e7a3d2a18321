"""The Hugging Face Hub: search and listing (api), downloads (download, fetch), pull, pending."""
