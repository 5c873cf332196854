
import django.contrib.postgres.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tradeviz.timeseries.operations import TimeSeriesTable


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0002_trading_accounts'),
        ('marketdata', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InstrumentMark',
            fields=[
                ('instrument', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='marketdata.instrument')),
                ('price', models.DecimalField(decimal_places=4, max_digits=18)),
                ('price_time', models.DateTimeField(help_text='When the price was quoted')),
                ('source', models.CharField(help_text='redis, ticker or carried', max_length=8)),
                ('stale', models.BooleanField(default=False)),
                ('updated_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='Strategy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('description', models.TextField(blank=True)),
                ('tags', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=32), blank=True, default=list, size=None)),
                ('status', models.CharField(choices=[('ACTIVE', 'Active'), ('PAUSED', 'Paused'), ('CLOSED', 'Closed')], default='ACTIVE', max_length=8)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('current_m2m', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('realised_pnl', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('unrealised_pnl', models.DecimalField(decimal_places=4, default=0, max_digits=18)),
                ('stale_legs', models.PositiveIntegerField(default=0)),
                ('m2m_updated_at', models.DateTimeField(blank=True, null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='strategies', to=settings.AUTH_USER_MODEL)),
                ('trading_account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='strategies', to='accounts.tradingaccount')),
            ],
            options={
                'verbose_name_plural': 'strategies',
                'ordering': ('-created_at', '-id'),
            },
        ),
        migrations.CreateModel(
            name='M2MCandle',
            fields=[
                ('pk', models.CompositePrimaryKey('strategy', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
                ('time', models.DateTimeField()),
                ('open', models.DecimalField(decimal_places=4, max_digits=18)),
                ('high', models.DecimalField(decimal_places=4, max_digits=18)),
                ('low', models.DecimalField(decimal_places=4, max_digits=18)),
                ('close', models.DecimalField(decimal_places=4, max_digits=18)),
                ('realised', models.DecimalField(decimal_places=4, max_digits=18)),
                ('unrealised', models.DecimalField(decimal_places=4, max_digits=18)),
                ('stale_legs', models.PositiveSmallIntegerField(default=0)),
                ('strategy', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='strategies.strategy')),
            ],
            options={
                'verbose_name': 'M2M candle',
                'db_table': 'strategies_m2mcandle',
            },
        ),
        # Strategy M2M candles are a time series: a hypertable on TimescaleDB, BRIN on time otherwise.
        TimeSeriesTable(
            model_name='m2mcandle',
            time_column='time',
            key_columns=('strategy_id',),
            chunk_interval='7 days',
            compress_after='30 days',
        ),
        migrations.CreateModel(
            name='StrategyInstrument',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('side', models.CharField(choices=[('BUY', 'Buy'), ('SELL', 'Sell')], max_length=4)),
                ('lots', models.PositiveIntegerField()),
                ('quantity', models.PositiveIntegerField()),
                ('entry_price', models.DecimalField(decimal_places=4, max_digits=18)),
                ('entry_time', models.DateTimeField()),
                ('exit_price', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('exit_time', models.DateTimeField(blank=True, null=True)),
                ('status', models.CharField(choices=[('OPEN', 'Open'), ('CLOSED', 'Closed')], default='OPEN', max_length=8)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('instrument', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketdata.instrument')),
                ('strategy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='legs', to='strategies.strategy')),
            ],
            options={
                'verbose_name': 'leg',
                'ordering': ('strategy_id', 'id'),
            },
        ),
        migrations.AddIndex(
            model_name='strategy',
            index=models.Index(fields=['status'], name='strategy_status_idx'),
        ),
        migrations.AddConstraint(
            model_name='strategyinstrument',
            constraint=models.CheckConstraint(condition=models.Q(('lots__gt', 0)), name='leg_lots_positive'),
        ),
        migrations.AddConstraint(
            model_name='strategyinstrument',
            constraint=models.CheckConstraint(condition=models.Q(('exit_time__isnull', True), ('exit_time__gte', models.F('entry_time')), _connector='OR'), name='leg_exit_after_entry'),
        ),
    ]
