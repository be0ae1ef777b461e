"""Security tests against the real services (issue 9). Points already tested in a service's own
tests are referenced here rather than repeated; the modules of this package test the rest,
especially what crosses services.

| promise | where it is tested |
| --- | --- |
| no enumeration: registration (unknown ID and wrong secret give one answer; the secret is checked before "already registered") | services/registration/tests/test_api.py: test_wrong_secret_and_unknown_id_get_the_same_answer, test_the_secret_is_checked_before_saying_an_id_is_registered |
| no enumeration: log-in (same 401 body and the same hashing work) | services/auth/tests/test_login.py: test_unknown_id_and_wrong_password_get_the_same_401_and_the_same_hashing |
| no enumeration: reminder | services/auth/tests/test_password_reset.py: test_a_reminder_for_an_unknown_id_is_indistinguishable |
| no enumeration in status, body and headers, through the real processes | test_enumeration.py |
| lockout sequence, 423 with the right password, Retry-After counting down | services/auth/tests/test_login.py: test_the_whole_lockout_sequence |
| the stored lock does not move under attempts while locked (also a burst of 20), no password checked, one LoginLocked | test_lockout_not_extended.py |
| reset tokens single-use, void after another reset, expire after 60 minutes | services/auth/tests/test_password_reset.py: test_reset_flow_end_to_end, test_a_reset_voids_every_other_outstanding_link, test_an_expired_link_is_refused |
| reset tokens: 256 random bits, SHA-256 kept | services/auth/tests/domain/test_reset_tokens.py |
| reset tokens hashed at rest, checked in auth's database | test_reset_tokens_at_rest.py |
| the reset link leaves the notifier's database once sent | services/notifier/tests/test_emails.py: test_the_reset_link_does_not_stay_in_the_database_once_sent |
| JWT attacks on auth's own verifier (alg none, HS256 with the public key, aud, iss, expiry, tampering, other key) | services/auth/tests/test_access_tokens.py |
| JWT attacks on results' /me with test-signed tokens (forged, unknown kid, expired, aud, iss) | services/results/tests/test_api.py: test_a_bad_token_or_another_candidates_result_id_never_shows_a_result |
| JWT attacks at results' /me with the real auth's tokens and key (all of the above, incl. alg none and HS256) | test_jwt_attacks.py |
| no secret in auth's log lines | services/auth/tests/test_logging.py |
| secret numbers hashed in registration's database | services/registration/tests/test_consumers.py: test_entries_are_stored_with_the_secret_number_hashed |
| no password, secret number, reset or access token in any of the four databases or any of the four processes' logs after a full run | test_secrets_at_rest_and_in_logs.py |
| operator injection: registration candidate_id, verification number and family name, statement result id | services/registration/tests/test_api.py: test_operator_injection_in_the_candidate_id_is_a_422; services/results/tests/test_api.py: test_verification_needs_the_number_and_the_family_name, test_a_bad_token_or_another_candidates_result_id_never_shows_a_result |
| operator injection in every field of every JSON body, path and query string that reaches a query | test_operator_injection.py |
| verification: wrong number or name, `$ne` → the same 404; rate limited per client | services/results/tests/test_api.py: test_verification_needs_the_number_and_the_family_name, test_verification_is_rate_limited_per_client |
| verification cannot list: wildcards, regex, empty name, prefixes → 404, then 429, on the real process | test_verification_listing.py |
| gateway rate limits and security headers | tests/test_gateway.py |
"""
