
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('marketdata', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='TradingAccount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('broker', models.CharField(default='sim', max_length=32)),
                ('broker_account_id', models.CharField(max_length=64, unique=True)),
                ('display_name', models.CharField(blank=True, max_length=100)),
                ('status', models.CharField(choices=[('ACTIVE', 'Active'), ('DISABLED', 'Disabled')], default='ACTIVE', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('last_synced_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trading_accounts', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ('owner_id', 'display_name', 'id'),
            },
        ),
        migrations.CreateModel(
            name='Position',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('product', models.CharField(choices=[('CNC', 'Delivery (CNC)'), ('MIS', 'Intraday (MIS)'), ('NRML', 'Carry forward (NRML)')], default='NRML', max_length=8)),
                ('quantity', models.IntegerField(default=0)),
                ('average_price', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('buy_quantity', models.BigIntegerField(default=0)),
                ('buy_value', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('sell_quantity', models.BigIntegerField(default=0)),
                ('sell_value', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('realised_pnl', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('unrealised_pnl', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('last_price', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('instrument', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketdata.instrument')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='positions', to='accounts.tradingaccount')),
            ],
            options={
                'ordering': ('account_id', 'instrument_id', 'product'),
                'constraints': [models.UniqueConstraint(fields=('account', 'instrument', 'product'), name='position_account_instrument_product')],
            },
        ),
        migrations.CreateModel(
            name='Order',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('broker_order_id', models.CharField(max_length=64)),
                ('instrument_token', models.BigIntegerField()),
                ('tradingsymbol', models.CharField(max_length=64)),
                ('product', models.CharField(choices=[('CNC', 'Delivery (CNC)'), ('MIS', 'Intraday (MIS)'), ('NRML', 'Carry forward (NRML)')], default='NRML', max_length=8)),
                ('side', models.CharField(choices=[('BUY', 'Buy'), ('SELL', 'Sell')], max_length=4)),
                ('status', models.CharField(choices=[('OPEN', 'Open'), ('TRIGGER_PENDING', 'Trigger pending'), ('COMPLETE', 'Complete'), ('CANCELLED', 'Cancelled'), ('REJECTED', 'Rejected')], max_length=16)),
                ('quantity', models.IntegerField()),
                ('filled_quantity', models.IntegerField(default=0)),
                ('price', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('average_price', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('tag', models.CharField(blank=True, max_length=32)),
                ('status_message', models.CharField(blank=True, max_length=255)),
                ('placed_at', models.DateTimeField()),
                ('exchange_updated_at', models.DateTimeField()),
                ('open_at', models.DateTimeField(blank=True, null=True)),
                ('trigger_pending_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('rejected_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('instrument', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='marketdata.instrument')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='orders', to='accounts.tradingaccount')),
            ],
            options={
                'ordering': ('-placed_at', '-id'),
                'indexes': [models.Index(fields=['account', '-placed_at'], name='order_account_placed_idx')],
                'constraints': [models.UniqueConstraint(fields=('account', 'broker_order_id'), name='order_account_broker_order_id')],
            },
        ),
        migrations.CreateModel(
            name='Holding',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('instrument_token', models.BigIntegerField()),
                ('tradingsymbol', models.CharField(max_length=64)),
                ('isin', models.CharField(blank=True, max_length=16)),
                ('quantity', models.IntegerField(default=0)),
                ('t1_quantity', models.IntegerField(default=0)),
                ('average_price', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('last_price', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('pnl', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('instrument', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='marketdata.instrument')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='holdings', to='accounts.tradingaccount')),
            ],
            options={
                'ordering': ('account_id', 'tradingsymbol'),
                'constraints': [models.UniqueConstraint(fields=('account', 'instrument_token'), name='holding_account_token')],
            },
        ),
        migrations.CreateModel(
            name='FundsSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('taken_at', models.DateTimeField()),
                ('opening_balance', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('available_cash', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('used_margin', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('available_margin', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('collateral', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='funds_snapshots', to='accounts.tradingaccount')),
            ],
            options={
                'ordering': ('account_id', '-taken_at'),
                'get_latest_by': 'taken_at',
                'indexes': [models.Index(fields=['account', '-taken_at'], name='funds_account_taken_idx')],
            },
        ),
    ]
