-- Dated exchange rates to the base currency, one per calendar day and currency
-- (int_fx_rates_daily documents the source precedence and the carry-forward rule).
select
    rate_date || ':' || currency as fx_rate_id,
    rate_date,
    currency,
    base_currency,
    rate_to_base,
    published_date,
    is_carried_forward,
    rate_source
from {{ ref('int_fx_rates_daily') }}
