from django.db import migrations, models

from tradeviz.timeseries.operations import CreateRollup, TimeSeriesTable
from tradeviz.timeseries.rollups import RollupColumn, RollupSpec

# Spelled out here (not imported from options.rollups) so later edits need a new migration.
METRICS_AGGREGATES = (
    RollupColumn(output="spot", kind="last"),
    RollupColumn(output="futures_price", kind="last"),
    RollupColumn(output="synthetic_forward", kind="last"),
    RollupColumn(output="forward", kind="last"),
    RollupColumn(output="forward_source", kind="last"),
    RollupColumn(output="t_years", kind="last"),
    RollupColumn(output="atm_strike", kind="last"),
    RollupColumn(output="atm_iv_open", kind="first", source="atm_iv"),
    RollupColumn(output="atm_iv_high", kind="max", source="atm_iv"),
    RollupColumn(output="atm_iv_low", kind="min", source="atm_iv"),
    RollupColumn(output="atm_iv", kind="last"),
    RollupColumn(output="straddle_open", kind="first", source="straddle"),
    RollupColumn(output="straddle_high", kind="max", source="straddle"),
    RollupColumn(output="straddle_low", kind="min", source="straddle"),
    RollupColumn(output="straddle", kind="last"),
    RollupColumn(output="max_pain", kind="last"),
    RollupColumn(output="support", kind="last"),
    RollupColumn(output="resistance", kind="last"),
    RollupColumn(output="pcr_oi", kind="last"),
    RollupColumn(output="pcr_volume", kind="last"),
    RollupColumn(output="pcr_oi_change", kind="last"),
    RollupColumn(output="total_ce_oi", kind="last"),
    RollupColumn(output="total_pe_oi", kind="last"),
    RollupColumn(output="total_ce_oi_change", kind="last"),
    RollupColumn(output="total_pe_oi_change", kind="last"),
    RollupColumn(output="total_ce_volume", kind="last"),
    RollupColumn(output="total_pe_volume", kind="last"),
    RollupColumn(output="ce_volume_minute", kind="sum", cast="bigint"),
    RollupColumn(output="pe_volume_minute", kind="sum", cast="bigint"),
)
METRICS_KEYS = ("underlying", "expiry")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='ExpiryMetrics',
            fields=[
                ('pk', models.CompositePrimaryKey('underlying', 'expiry', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
                ('underlying', models.CharField(max_length=64)),
                ('expiry', models.DateField()),
                ('time', models.DateTimeField()),
                ('spot', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('futures_price', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('synthetic_forward', models.FloatField(blank=True, null=True)),
                ('forward', models.FloatField(blank=True, null=True)),
                ('forward_source', models.CharField(choices=[('futures', 'Same-expiry futures'), ('synthetic', 'Synthetic forward from the ATM pair'), ('spot', 'Black-Scholes on spot (fallback)'), ('none', 'No forward (nothing priced)')], max_length=12)),
                ('t_years', models.FloatField()),
                ('atm_strike', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('atm_iv', models.FloatField(blank=True, null=True)),
                ('straddle', models.FloatField(blank=True, null=True)),
                ('max_pain', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('support', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('resistance', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('pcr_oi', models.FloatField(blank=True, null=True)),
                ('pcr_volume', models.FloatField(blank=True, null=True)),
                ('pcr_oi_change', models.FloatField(blank=True, null=True)),
                ('total_ce_oi', models.BigIntegerField(blank=True, null=True)),
                ('total_pe_oi', models.BigIntegerField(blank=True, null=True)),
                ('total_ce_oi_change', models.BigIntegerField(blank=True, null=True)),
                ('total_pe_oi_change', models.BigIntegerField(blank=True, null=True)),
                ('total_ce_volume', models.BigIntegerField(blank=True, null=True)),
                ('total_pe_volume', models.BigIntegerField(blank=True, null=True)),
                ('ce_volume_minute', models.BigIntegerField(blank=True, null=True)),
                ('pe_volume_minute', models.BigIntegerField(blank=True, null=True)),
                ('strikes', models.PositiveSmallIntegerField(default=0)),
            ],
            options={
                'db_table': 'options_expirymetrics',
            },
        ),
        migrations.CreateModel(
            name='OptionStrikeBar',
            fields=[
                ('pk', models.CompositePrimaryKey('underlying', 'expiry', 'time', 'strike', blank=True, editable=False, primary_key=True, serialize=False)),
                ('underlying', models.CharField(max_length=64)),
                ('expiry', models.DateField()),
                ('time', models.DateTimeField()),
                ('strike', models.DecimalField(decimal_places=4, max_digits=18)),
                ('spot', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('forward', models.FloatField(blank=True, null=True)),
                ('forward_source', models.CharField(choices=[('futures', 'Same-expiry futures'), ('synthetic', 'Synthetic forward from the ATM pair'), ('spot', 'Black-Scholes on spot (fallback)'), ('none', 'No forward (nothing priced)')], max_length=12)),
                ('t_years', models.FloatField()),
                ('ce_ltp', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('ce_price', models.FloatField(blank=True, null=True)),
                ('ce_iv', models.FloatField(blank=True, null=True)),
                ('ce_iv_reason', models.CharField(blank=True, max_length=32)),
                ('ce_delta', models.FloatField(blank=True, null=True)),
                ('ce_gamma', models.FloatField(blank=True, null=True)),
                ('ce_theta', models.FloatField(blank=True, null=True)),
                ('ce_vega', models.FloatField(blank=True, null=True)),
                ('ce_oi', models.BigIntegerField(blank=True, null=True)),
                ('ce_oi_change', models.BigIntegerField(blank=True, null=True)),
                ('ce_volume', models.BigIntegerField(blank=True, null=True)),
                ('pe_ltp', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                ('pe_price', models.FloatField(blank=True, null=True)),
                ('pe_iv', models.FloatField(blank=True, null=True)),
                ('pe_iv_reason', models.CharField(blank=True, max_length=32)),
                ('pe_delta', models.FloatField(blank=True, null=True)),
                ('pe_gamma', models.FloatField(blank=True, null=True)),
                ('pe_theta', models.FloatField(blank=True, null=True)),
                ('pe_vega', models.FloatField(blank=True, null=True)),
                ('pe_oi', models.BigIntegerField(blank=True, null=True)),
                ('pe_oi_change', models.BigIntegerField(blank=True, null=True)),
                ('pe_volume', models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                'db_table': 'options_strikebar',
            },
        ),
        TimeSeriesTable(
            model_name="optionstrikebar",
            time_column="time",
            key_columns=("underlying", "expiry"),
            chunk_interval="7 days",
            compress_after="30 days",
        ),
        TimeSeriesTable(
            model_name="expirymetrics",
            time_column="time",
            key_columns=METRICS_KEYS,
            chunk_interval="30 days",
            compress_after="30 days",
        ),
        CreateRollup(
            RollupSpec(
                name="options_expirymetrics_5m",
                source_table="options_expirymetrics",
                bucket="5",
                aggregates=METRICS_AGGREGATES,
                key_columns=METRICS_KEYS,
            )
        ),
        CreateRollup(
            RollupSpec(
                name="options_expirymetrics_15m",
                source_table="options_expirymetrics",
                bucket="15",
                aggregates=METRICS_AGGREGATES,
                key_columns=METRICS_KEYS,
            )
        ),
    ]
