"""The pay page's words, in Indonesian (the default: most buyers read it first) and English."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("id", "en")
DEFAULT = "id"
COOKIE = "kasir_lang"

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Pembayaran",
        "pay_to": "Pembayaran ke",
        "pay_exactly": "Bayar tepat",
        "amount_breakdown": "Rp {amount} + kode unik {code}",
        "exact_hint": "Bayar persis sampai 3 digit terakhir agar pembayaran terkonfirmasi otomatis.",
        # When nothing reports this channel's credits by itself (kasir.sources.confirmation).
        "exact_hint_manual": (
            "Bayar persis sampai 3 digit terakhir. Penjual akan mengonfirmasi pembayaran Anda setelah dana masuk."
        ),
        "scan": "Pindai QRIS ini dengan aplikasi e-wallet atau m-banking Anda.",
        "save_qr": "Simpan gambar QR",
        "transfer_ovo": "Transfer ke nomor OVO",
        "copy_label": "Salin",
        "amount_paid": "Jumlah dibayar",
        "amount_label": "Jumlah",
        "copied": "Tersalin",
        "expires_in": "Sisa waktu",
        "status_pending": "Menunggu pembayaran…",
        "status_paid": "Pembayaran berhasil",
        "status_expired": "Waktu pembayaran habis",
        "status_cancelled": "Pembayaran dibatalkan",
        "paid_detail": "Terima kasih! Pembayaran Anda sudah kami terima.",
        "expired_detail": "Pembayaran ini tidak dapat dibayar lagi. Silakan buat pesanan baru.",
        "cancelled_detail": "Penjual membatalkan pembayaran ini.",
        "download": "Unduh file",
        "downloads_left": "{count} unduhan tersisa, berlaku sampai {until} WIB",
        "your_content": "Konten Anda",
        "license_key": "Kunci lisensi",
        "open_link": "Buka tautan",
        "redirecting": "Anda akan diarahkan kembali ke toko dalam {seconds} detik.",
        "continue": "Lanjutkan ke toko",
        "invoice": "No. tagihan",
        "customer": "Pembeli",
        "test_mode": "MODE UJI: tidak ada uang yang berpindah.",
        "demo_qris": "QRIS demo: tidak dapat dibayar dengan aplikasi sungguhan.",
        "not_found": "Pembayaran tidak ditemukan",
        "not_found_detail": "Periksa kembali tautan pembayaran Anda.",
        "switch_language": "English",
        "qr_alt": "Kode QR QRIS senilai Rp {amount}",
        "product_photo": "Foto produk",
        "minutes": "menit",
        "seconds": "detik",
    },
    "en": {
        "title": "Payment",
        "pay_to": "Payment to",
        "pay_exactly": "Pay exactly",
        "amount_breakdown": "Rp {amount} + unique code {code}",
        "exact_hint": "Pay the exact amount, down to the last 3 digits, so the payment confirms by itself.",
        "exact_hint_manual": (
            "Pay the exact amount, down to the last 3 digits. "
            "The seller will confirm your payment once the money arrives."
        ),
        "scan": "Scan this QRIS with your e-wallet or mobile banking app.",
        "save_qr": "Save the QR image",
        "transfer_ovo": "Transfer to OVO number",
        "copy_label": "Copy",
        "amount_paid": "Amount paid",
        "amount_label": "Amount",
        "copied": "Copied",
        "expires_in": "Time left",
        "status_pending": "Waiting for payment…",
        "status_paid": "Payment successful",
        "status_expired": "Payment time is over",
        "status_cancelled": "Payment cancelled",
        "paid_detail": "Thank you! We have received your payment.",
        "expired_detail": "This payment can no longer be paid. Please place a new order.",
        "cancelled_detail": "The seller cancelled this payment.",
        "download": "Download the file",
        "downloads_left": "{count} downloads left, valid until {until} WIB",
        "your_content": "Your content",
        "license_key": "License key",
        "open_link": "Open the link",
        "redirecting": "You will be taken back to the shop in {seconds} seconds.",
        "continue": "Continue to the shop",
        "invoice": "Invoice",
        "customer": "Customer",
        "test_mode": "TEST MODE: no money moves.",
        "demo_qris": "Demo QRIS: real apps cannot pay it.",
        "not_found": "Payment not found",
        "not_found_detail": "Please check your payment link.",
        "switch_language": "Bahasa Indonesia",
        "qr_alt": "QRIS code for Rp {amount}",
        "product_photo": "Product photo",
        "minutes": "minutes",
        "seconds": "seconds",
    },
}


def choose(query: str | None, cookies: Mapping[str, str], accept_language: str | None) -> str:
    """``?lang=`` first (the switch), then the remembered choice, then the browser's first
    preference among ours; Indonesian otherwise."""
    for candidate in (query, cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT
