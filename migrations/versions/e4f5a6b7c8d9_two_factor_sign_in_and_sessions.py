"""two-factor sign-in (authenticator apps, recovery codes, passkeys, pending challenges), the
devices a person signed in from, and where each API log-in came from

Revision ID: e4f5a6b7c8d9
Revises: d3e4f5a6b7c8
Create Date: 2026-12-10 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = 'e4f5a6b7c8d9'
down_revision = 'd3e4f5a6b7c8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('known_devices',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('first_seen_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_known_devices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_known_devices')),
    sa.UniqueConstraint('user_id', 'device_hash', name=op.f('uq_known_devices_user_id_device_hash'))
    )
    with op.batch_alter_table('known_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_known_devices_user_id'), ['user_id'], unique=False)

    op.create_table('mfa_challenges',
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    sa.Column('organization_id', sa.String(length=40), nullable=True),
    sa.Column('webauthn_challenge', sa.String(length=200), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_mfa_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_challenges')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_mfa_challenges_secret_hash'))
    )
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mfa_challenges_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mfa_challenges_user_id'), ['user_id'], unique=False)

    op.create_table('passkeys',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), nullable=False),
    sa.Column('transports', sa.JSON(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('aaguid', sa.String(length=36), nullable=True),
    sa.Column('backed_up', sa.Boolean(), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkeys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkeys')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_passkeys_credential_id'))
    )
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkeys_user_id'), ['user_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('user_id', 'code_hash', name=op.f('uq_recovery_codes_user_id_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    op.create_table('totp_factors',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_totp_factors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_totp_factors')),
    sa.UniqueConstraint('user_id', name=op.f('uq_totp_factors_user_id'))
    )
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip_address', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('user_agent')
        batch_op.drop_column('ip_address')

    op.drop_table('totp_factors')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))

    op.drop_table('recovery_codes')
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkeys_user_id'))

    op.drop_table('passkeys')
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mfa_challenges_user_id'))
        batch_op.drop_index(batch_op.f('ix_mfa_challenges_expires_at'))

    op.drop_table('mfa_challenges')
    with op.batch_alter_table('known_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_known_devices_user_id'))

    op.drop_table('known_devices')
