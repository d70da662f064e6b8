"""E-mail through SMTP (the standard library's smtplib: nothing to add for one plain-text message).

SMTP_URL: `smtp://user:pass@host:587` sends after STARTTLS (refused when the server does not offer it:
the password never travels in clear), `smtps://…:465` over TLS from the start, `smtp+plain://host:25`
without TLS, for a relay on the same host (and the tests' aiosmtpd).
"""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from apps.notificacoes.channels.base import Channel, ChannelError, Outgoing, timeouts

SCHEMES = {"smtp": 587, "smtps": 465, "smtp+plain": 25}


def parse_smtp_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ChannelError("SMTP_URL inválida: use smtp://usuario:senha@host:587, smtps://… ou smtp+plain://host:25.")
    return {"scheme": parts.scheme, "host": parts.hostname, "port": parts.port or SCHEMES[parts.scheme],
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


class EmailChannel(Channel):
    name, label = "email", "E-mail"
    required = ("SMTP_URL", "SMTP_FROM")

    def send(self, out: Outgoing, config) -> str:
        smtp = parse_smtp_url(config["SMTP_URL"])
        message = EmailMessage()
        message["From"], message["To"] = config["SMTP_FROM"], out.destino
        message["Subject"] = "RPA Dashboard: " + out.texto[:120]
        message["Message-ID"] = make_msgid(idstring=out.id.replace("-", ""), domain="rpa-dashboard")
        message.set_content(out.body + "\n")
        timeout = timeouts(config)[1]
        try:
            if smtp["scheme"] == "smtps":
                server = smtplib.SMTP_SSL(smtp["host"], smtp["port"], timeout=timeout,
                                          context=ssl.create_default_context())
            else:
                server = smtplib.SMTP(smtp["host"], smtp["port"], timeout=timeout)
            with server:
                if smtp["scheme"] == "smtp":
                    server.ehlo()
                    if not server.has_extn("starttls"):
                        raise ChannelError("O servidor SMTP não oferece STARTTLS; nada foi enviado "
                                           "(use smtp+plain:// só para um relay local).")
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if smtp["user"]:
                    server.login(smtp["user"], smtp["password"] or "")
                server.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"Destinatário recusado pelo servidor SMTP ({out.destino}).") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError("O servidor SMTP recusou usuário e senha de SMTP_URL.") from exc
        except smtplib.SMTPResponseException as exc:  # 4xx: try later; 5xx: refused for good
            raise ChannelError(f"SMTP respondeu {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP indisponível ({exc.__class__.__name__})", retryable=True) from exc
        return message["Message-ID"]
