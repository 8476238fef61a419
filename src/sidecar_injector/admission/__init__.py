"""The admission webhook: AdmissionReview wire types and the ASGI app."""
