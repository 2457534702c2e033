"""Standard Webhooks signing and verification, on plain data."""

from __future__ import annotations

import base64

import pytest

from app.webhooks import signing

# The Standard Webhooks spec's published example (spec/standard-webhooks.md),
# also the first vector of its reference libraries' tests.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def check(
    secrets=(SPEC_SECRET,),
    *,
    wid=SPEC_ID,
    ts=str(SPEC_TS),
    sig=SPEC_SIGNATURE,
    body=SPEC_BODY,
    now=SPEC_TS,
):
    return signing.verify(
        list(secrets), webhook_id=wid, timestamp=ts, signature=sig, body=body, now=now
    )


class TestSign:
    def test_the_spec_vector_signs_to_the_published_signature(self):
        assert (
            signing.sign(SPEC_SECRET, webhook_id=SPEC_ID, timestamp=SPEC_TS, body=SPEC_BODY)
            == SPEC_SIGNATURE
        )

    def test_a_header_carries_one_signature_per_secret_for_rotation(self):
        other = signing.new_secret()
        header = signing.signature_header(
            [SPEC_SECRET, other], webhook_id=SPEC_ID, timestamp=SPEC_TS, body=SPEC_BODY
        )
        first, second = header.split(" ")
        assert first == SPEC_SIGNATURE
        assert second.startswith("v1,") and second != SPEC_SIGNATURE

    def test_new_secrets_are_whsec_and_32_random_bytes(self):
        secret = signing.new_secret()
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:])) == 32
        assert secret != signing.new_secret()

    def test_a_secret_without_the_prefix_is_refused(self):
        with pytest.raises(ValueError):
            signing.sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", webhook_id="a", timestamp=1, body=b"")


class TestVerify:
    def test_the_spec_vector_verifies(self):
        message = check()
        assert message == signing.VerifiedMessage(SPEC_ID, SPEC_TS)

    def test_any_matching_signature_among_several_passes(self):
        wrong = "v1," + base64.b64encode(b"x" * 32).decode()
        check(sig=f"{wrong} v1a,ignoredEd25519== {SPEC_SIGNATURE}")

    def test_a_rotated_secret_pair_verifies_with_either(self):
        check(secrets=(signing.new_secret(), SPEC_SECRET))

    @pytest.mark.parametrize(
        "change",
        [
            {"body": b'{"test": 2432232315}'},
            {"wid": "msg_p5jXN8AQM9LWM0D4loKWxJel"},
            {"secrets": ("whsec_" + base64.b64encode(b"k" * 24).decode(),)},
            {"sig": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="},
        ],
        ids=["body", "id", "secret", "signature"],
    )
    def test_any_change_breaks_the_signature(self, change):
        with pytest.raises(signing.SignatureError, match="no signature matches"):
            check(**change)

    def test_a_timestamp_signed_differently_fails(self):
        with pytest.raises(signing.SignatureError):
            check(ts=str(SPEC_TS + 1), now=SPEC_TS)

    @pytest.mark.parametrize(
        ("offset", "message"),
        [(301, "too old"), (-301, "too far in the future")],
    )
    def test_a_timestamp_outside_five_minutes_is_refused(self, offset, message):
        with pytest.raises(signing.SignatureError, match=message):
            check(now=SPEC_TS + offset)

    @pytest.mark.parametrize("offset", [300, -300, 0])
    def test_a_timestamp_within_five_minutes_passes(self, offset):
        check(now=SPEC_TS + offset)

    @pytest.mark.parametrize(
        "sig",
        ["", "   ", "v1", "v1,", ",abc", "v1,not base64!", "v1a,abc", "garbage"],
    )
    def test_a_malformed_signature_header_is_a_signature_error(self, sig):
        with pytest.raises(signing.SignatureError):
            check(sig=sig)

    @pytest.mark.parametrize("ts", ["", "abc", "1614265330.5", "-1", "1e9"])
    def test_a_malformed_timestamp_is_refused(self, ts):
        with pytest.raises(signing.SignatureError):
            check(ts=ts)

    @pytest.mark.parametrize("wid", ["", "a.b", "x" * 256, "msg id"])
    def test_a_malformed_id_is_refused(self, wid):
        with pytest.raises(signing.SignatureError):
            check(wid=wid)

    def test_missing_headers_are_named(self):
        with pytest.raises(signing.SignatureError, match="webhook-id, webhook-signature"):
            signing.verify(
                [SPEC_SECRET], webhook_id=None, timestamp="1", signature=None, body=b"", now=1
            )

    def test_a_broken_stored_secret_is_skipped_not_raised(self):
        check(secrets=("whsec_%%%", SPEC_SECRET))

    def test_signed_headers_round_trip(self):
        secret = signing.new_secret()
        body = '{"type":"event.launched","data":{"name":"双十一"}}'.encode()
        headers = signing.signed_headers(
            [secret], webhook_id="msg_1", timestamp=1700000000, body=body
        )
        signing.verify(
            [secret],
            webhook_id=headers["webhook-id"],
            timestamp=headers["webhook-timestamp"],
            signature=headers["webhook-signature"],
            body=body,
            now=1700000100,
        )
