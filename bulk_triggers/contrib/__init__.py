"""Optional integrations: forms, the admin and ready-made guards. The core never imports them."""
