//! floe-slt: sqllogictest driver over floe's SQL front end.
