"""Operations: doctor, backup and status."""
