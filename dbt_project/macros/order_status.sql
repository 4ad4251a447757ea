{#
  Where an order is in its life, in one vocabulary for every channel:
  pending (not yet confirmed/paid), open (confirmed, not shipped), shipped, delivered,
  cancelled. Refund states are added from the refunded amounts (order_status macro below).
  A status no rule knows comes out as 'unknown:<channel status>' so that the accepted_values
  test on the marts names it instead of hiding it.
  File channels (source_format other than 'api') have no vocabulary of their own: their
  exports' raw statuses differ per shop, so int_orders_unioned decides from the files' flags
  (cancelled when every line is cancelled, else shipped when a line has shipped_at, else
  open) and passes that on as fulfillment_status_raw. They never reach the channel rules, even
  when the inbox folder is named like an API channel.
#}
{% macro fulfilment_status(channel, channel_status, fulfillment_status_raw, source_format=none) -%}
    case
        {%- if source_format %}
        when {{ source_format }} <> 'api' then
            case {{ fulfillment_status_raw }}
                when 'cancelled' then 'cancelled'
                when 'shipped' then 'shipped'
                when 'open' then 'open'
            end
        {%- endif %}
        when {{ channel }} = 'amazon' then
            case {{ channel_status }}
                when 'Pending' then 'pending'
                when 'PendingAvailability' then 'pending'
                when 'Unshipped' then 'open'
                when 'PartiallyShipped' then 'open'
                when 'InvoiceUnconfirmed' then 'open'
                when 'Shipped' then 'shipped'
                when 'Canceled' then 'cancelled'
                when 'Unfulfillable' then 'cancelled'
            end
        when {{ channel }} = 'shopify' then
            case
                when {{ channel_status }} in ('CANCELLED', 'VOIDED', 'EXPIRED') then 'cancelled'
                when {{ channel_status }} in ('PENDING', 'AUTHORIZED', 'PARTIALLY_PAID') then 'pending'
                when {{ fulfillment_status_raw }} = 'FULFILLED' then 'shipped'
                when {{ channel_status }} in ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') then 'open'
            end
        when {{ channel }} = 'walmart' then
            case {{ channel_status }}
                when 'Created' then 'pending'
                when 'Acknowledged' then 'open'
                when 'Shipped' then 'shipped'
                when 'Delivered' then 'delivered'
                when 'Cancelled' then 'cancelled'
            end
    end
{%- endmacro %}

{#
  The order status of the marts: cancelled wins; then refunded when refunds cover the
  discounted goods value, partially_refunded when some money went back; else the
  fulfilment status.
#}
{% macro order_status(fulfilment_status, channel_status, refunded_amount, goods_amount) -%}
    case
        when {{ fulfilment_status }} is null then 'unknown:' || coalesce({{ channel_status }}, 'null')
        when {{ fulfilment_status }} = 'cancelled' then 'cancelled'
        when {{ refunded_amount }} > 0 and {{ refunded_amount }} >= {{ goods_amount }} then 'refunded'
        when {{ refunded_amount }} > 0 then 'partially_refunded'
        else {{ fulfilment_status }}
    end
{%- endmacro %}
