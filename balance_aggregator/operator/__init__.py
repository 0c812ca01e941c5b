"""The operator's web page and its JSON API, served by the VTN at /ui/ and /operator/api/."""
