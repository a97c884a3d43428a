"""Files in, documents with metadata and offset-exact passages out."""
