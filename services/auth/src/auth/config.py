from pydantic import Field

from crs_shared.config import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8002, validation_alias="AUTH_PORT")

    # Lockout (contract section 2): this many wrong passwords in a row answer 401; the next wrong
    # one answers 423 and locks log-on for `lockout_minutes`. A count left alone for
    # `lockout_forget_hours` starts again (an unknown ID's shadow count expires then).
    lockout_threshold: int = Field(3, ge=1)
    lockout_minutes: int = Field(30, ge=1)
    lockout_forget_hours: int = Field(24, ge=1)

    # Access tokens: EdDSA (Ed25519) JWTs. The signing key is PEM text or a PEM file; in dev,
    # when neither is set, one is generated once and kept in `jwt_keys_dir`. Keys retired by a
    # rotation stay in the JWKS (public part only) until the tokens they signed have expired.
    access_token_minutes: int = Field(30, ge=1)
    jwt_signing_key: str | None = Field(None, repr=False)
    jwt_signing_key_file: str | None = None
    jwt_keys_dir: str = "var/auth-keys"
    jwt_retired_key_files: list[str] = Field(default_factory=list)

    # Password reminder and reset.
    reset_token_minutes: int = Field(60, ge=1)
    reminder_limit: int = Field(3, ge=1)  # reset emails per candidate per window
    reminder_window_minutes: int = Field(60, ge=1)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not (self.jwt_signing_key or "").strip() and not (self.jwt_signing_key_file or "").strip():
            problems.append(
                "auth has no signing key (JWT_SIGNING_KEY_FILE, a PEM file, or JWT_SIGNING_KEY, PEM text), so it would "
                "sign access tokens with a development key it makes itself: give it an Ed25519 private key, made "
                "with openssl genpkey -algorithm ed25519 -out signing-key.pem")
        return problems
