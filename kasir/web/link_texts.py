"""The public link page's words, Indonesian first (most buyers read it), then English. The words
it shares with the pay page (the test-mode banner, the language switch) are kasir.web.i18n's."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Pembayaran",
        "pay_to": "Pembayaran ke",
        "price": "Harga",
        "amount_label": "Jumlah yang ingin dibayar (Rp)",
        "amount_range": "Antara Rp {low} dan Rp {high}.",
        "name_label": "Nama Anda",
        "phone_label": "Nomor HP / WhatsApp (opsional)",
        "phone_hint": "Agar penjual dapat menghubungi Anda tentang pesanan ini.",
        "submit": "Lanjut ke pembayaran",
        "unique_code_note": (
            "Di halaman berikutnya Anda melihat jumlah yang harus dibayar, dengan kode unik 3 digit di akhirnya."
        ),
        "method": "Metode",
        "error_name_missing": "Tulis nama Anda.",
        "error_name_too_long": "Nama paling panjang {max} karakter.",
        "error_name_invalid": "Nama harus satu baris teks biasa.",
        "error_phone_invalid": "Nomor HP tidak valid. Tulis seperti 0812 3456 7890.",
        "error_amount_missing": "Tulis jumlah yang ingin dibayar.",
        "error_amount_invalid": "Tulis jumlah dalam rupiah tanpa desimal, misalnya 50000 atau 50.000.",
        "error_amount_out_of_range": "Jumlah harus antara Rp {low} dan Rp {high}.",
        "error_form_expired": "Formulir ini sudah kedaluwarsa. Periksa isiannya, lalu tekan tombolnya sekali lagi.",
        "error_input": "Isian tidak dapat dibaca: {reason}",
        "not_found": "Link pembayaran tidak ditemukan",
        "not_found_detail": "Periksa kembali link yang Anda terima dari penjual.",
        "inactive": "Link pembayaran tidak aktif",
        "inactive_detail": "Penjual sudah menonaktifkan link ini. Hubungi penjual untuk mendapatkan link baru.",
        "expired": "Link pembayaran sudah kedaluwarsa",
        "expired_detail": "Link ini hanya berlaku sampai {until} WIB. Hubungi penjual untuk mendapatkan link baru.",
        "used_up": "Link pembayaran sudah habis",
        "used_up_detail": (
            "Semua kuota link ini sudah dipakai pembeli lain. Bila ada yang tidak membayar sampai batas waktunya, "
            "kuotanya terbuka lagi: coba beberapa saat lagi, atau hubungi penjual."
        ),
        "used_up_single": "Link ini untuk satu pembayaran saja, dan sudah dipakai.",
        "unavailable": "Pembayaran belum dapat dibuat",
        "unavailable_detail": "Link ini sedang tidak dapat menerima pembayaran. Hubungi penjual.",
    },
    "en": {
        "title": "Payment",
        "pay_to": "Payment to",
        "price": "Price",
        "amount_label": "Amount you want to pay (Rp)",
        "amount_range": "Between Rp {low} and Rp {high}.",
        "name_label": "Your name",
        "phone_label": "Phone / WhatsApp number (optional)",
        "phone_hint": "So that the seller can reach you about this order.",
        "submit": "Continue to payment",
        "unique_code_note": "The next page shows the amount to pay, with a 3-digit unique code at its end.",
        "method": "Method",
        "error_name_missing": "Please write your name.",
        "error_name_too_long": "A name is at most {max} characters.",
        "error_name_invalid": "A name is one line of plain text.",
        "error_phone_invalid": "That phone number is not valid. Write it like 0812 3456 7890.",
        "error_amount_missing": "Please write the amount you want to pay.",
        "error_amount_invalid": "Write the amount in rupiah without decimals, for example 50000 or 50.000.",
        "error_amount_out_of_range": "The amount must be between Rp {low} and Rp {high}.",
        "error_form_expired": "This form has expired. Check what you filled in, then press the button once more.",
        "error_input": "The form could not be read: {reason}",
        "not_found": "Payment link not found",
        "not_found_detail": "Please check the link you received from the seller.",
        "inactive": "This payment link is not active",
        "inactive_detail": "The seller has deactivated this link. Ask the seller for a new one.",
        "expired": "This payment link has expired",
        "expired_detail": "This link was valid until {until} WIB. Ask the seller for a new one.",
        "used_up": "This payment link is used up",
        "used_up_detail": (
            "Other buyers have taken all of this link's uses. If one of them does not pay in time, the use opens "
            "again: try again a little later, or contact the seller."
        ),
        "used_up_single": "This link is for one payment only, and it has been used.",
        "unavailable": "The payment cannot be made yet",
        "unavailable_detail": "This link cannot take payments right now. Please contact the seller.",
    },
}
