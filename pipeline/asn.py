"""ASN-likelihood of an author from bio, display name and watchlist: a score with its reasons."""
