"""The kiosk terminal (マルチコピー機): the 13-step flow of DOMAIN.md §2 as a state machine (`flow`), its
devices (`devices`), and the print-job binding check of ARCHITECTURE rule 2 (`binding`). It talks to the
center only through `kofu.center.client`; it never imports the issuer or the registry."""
